/*
 * Open handles on tenants' data folders, DATA_DIR/TENANT, shared by the
 * jobs of a run.
 *
 * A job keeps its tenant's folder open while it is prepared and while it
 * runs. Between jobs, up to BL_TENANT_DIRS_IDLE_MAX folders (an eighth of
 * the open-file limit when that is lower) stay open in case their tenant
 * runs again, so a run with thousands of tenants stays far below the
 * limit. A folder that cannot be opened for lack of descriptors closes the
 * idle ones and tries once more. Not thread-safe: the dispatcher owns it.
 *
 * NOTE: the map keeps one small entry for every tenant seen in the run,
 * open or not; a run over millions of tenants grows it without bound.
 */
#ifndef BL_ENGINE_TENANT_DIRS_H
#define BL_ENGINE_TENANT_DIRS_H

#include "strmap.h"

#define BL_TENANT_DIRS_IDLE_MAX 256u

typedef struct bl_tenant_dirs {
	int data_root;        /* borrowed */
	bl_strmap_t entries;  /* tenant -> entry */
	unsigned open_idle;   /* open folders that no job is using */
	unsigned idle_max;    /* BL_TENANT_DIRS_IDLE_MAX, less under a low open-file limit */
} bl_tenant_dirs_t;

void bl_tenant_dirs_init(bl_tenant_dirs_t *dirs, int data_root);

/* Close every folder. */
void bl_tenant_dirs_clear(bl_tenant_dirs_t *dirs);

/*
 * Hold `tenant`'s folder open and return its descriptor; release it with
 * bl_tenant_dirs_release. Returns -ENOENT when the tenant has no folder,
 * -EXDEV when its name would leave the data folder (".", "..", a symbolic
 * link pointing out), or another negative errno (-EMFILE included).
 */
int bl_tenant_dirs_acquire(bl_tenant_dirs_t *dirs, const char *tenant);

/* Let go of a folder held by bl_tenant_dirs_acquire. */
void bl_tenant_dirs_release(bl_tenant_dirs_t *dirs, const char *tenant);

#endif
