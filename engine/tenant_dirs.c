#define _GNU_SOURCE /* openat2 through syscall */

#include "tenant_dirs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct entry {
	int fd;        /* -1 while closed */
	unsigned refs; /* jobs holding it */
} entry_t;

void bl_tenant_dirs_init(bl_tenant_dirs_t *dirs, int data_root)
{
	struct rlimit lim;
	unsigned idle_max = BL_TENANT_DIRS_IDLE_MAX;

	/* Idle folders may take an eighth of the open-file limit, so that
	 * running jobs, which open their inputs and outputs, keep the rest. */
	if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur / 8 < idle_max)
		idle_max = lim.rlim_cur / 8 > 4 ? (unsigned)(lim.rlim_cur / 8) : 4;
	*dirs = (bl_tenant_dirs_t){.data_root = data_root, .idle_max = idle_max};
}

static void free_entry(void *value)
{
	entry_t *e = value;
	if (e->fd >= 0)
		close(e->fd);
	free(e);
}

void bl_tenant_dirs_clear(bl_tenant_dirs_t *dirs)
{
	bl_strmap_clear(&dirs->entries, free_entry);
	dirs->open_idle = 0;
}

/* Open DATA_DIR/TENANT beneath the data root, so that no tenant name can
 * reach another tenant's files. Returns the fd or a negative errno. */
static int open_beneath(int root, const char *tenant)
{
	if (strcmp(tenant, ".") == 0 || strcmp(tenant, "..") == 0)
		return -EXDEV;

	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, root, tenant, &how, sizeof how);
	return fd < 0 ? -errno : fd;
}

/* Close the folders no job holds; called when too many are open. */
static void close_idle(bl_tenant_dirs_t *dirs)
{
	for (size_t i = 0; i < dirs->entries.capacity; i++) {
		entry_t *e = dirs->entries.slots[i].value;
		if (dirs->entries.slots[i].key && e->refs == 0 && e->fd >= 0) {
			close(e->fd);
			e->fd = -1;
		}
	}
	dirs->open_idle = 0;
}

int bl_tenant_dirs_acquire(bl_tenant_dirs_t *dirs, const char *tenant)
{
	entry_t *e = bl_strmap_get(&dirs->entries, tenant);
	if (!e) {
		e = calloc(1, sizeof *e);
		if (!e || bl_strmap_put(&dirs->entries, tenant, e) != 0) {
			free(e);
			return -ENOMEM;
		}
		e->fd = -1;
	}

	if (e->fd < 0) {
		int fd = open_beneath(dirs->data_root, tenant);
		if (fd == -EMFILE || fd == -ENFILE) {
			/* Make room among the idle folders, then try once more. */
			close_idle(dirs);
			fd = open_beneath(dirs->data_root, tenant);
		}
		if (fd < 0)
			return fd;
		e->fd = fd;
	} else if (e->refs == 0) {
		dirs->open_idle--;
	}
	e->refs++;
	return e->fd;
}

void bl_tenant_dirs_release(bl_tenant_dirs_t *dirs, const char *tenant)
{
	entry_t *e = bl_strmap_get(&dirs->entries, tenant);
	if (!e || e->refs == 0)
		return;
	if (--e->refs == 0 && ++dirs->open_idle > dirs->idle_max)
		close_idle(dirs);
}
