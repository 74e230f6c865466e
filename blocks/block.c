/* The block registry and the outcome every block reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <beamline/blocks.h>

extern const bl_block_t bl__kernel_block;
extern const bl_block_t bl__fs_block;
extern const bl_block_t bl__http_block;
extern const bl_block_t bl__human_block;
extern const bl_block_t bl__sql_block;

static const bl_block_t *const blocks[] = {&bl__kernel_block, &bl__fs_block, &bl__http_block, &bl__sql_block,
					   &bl__human_block};

const bl_block_t *bl_block_find(const char *name)
{
	for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++) {
		if (strcmp(name, blocks[i]->name) == 0)
			return blocks[i];
	}
	return NULL;
}

void bl_block_names(char *out, size_t size)
{
	size_t used = 0;

	if (size == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof blocks / sizeof *blocks && used < size; i++) {
		int n = snprintf(out + used, size - used, "%s%s", i ? ", " : "", blocks[i]->name);
		if (n < 0)
			return;
		used += (size_t)n;
	}
}

bl_block_outcome_t *bl_block_outcome_new(void)
{
	return calloc(1, sizeof(bl_block_outcome_t));
}

void bl_block_outcome_free(bl_block_outcome_t **outcome)
{
	if (!*outcome)
		return;
	json_decref((*outcome)->result);
	free((*outcome)->attached_block);
	free(*outcome);
	*outcome = NULL;
}
