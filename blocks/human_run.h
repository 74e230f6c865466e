/*
 * One run of the human block: an actor that posts the approval request,
 * waits for a decision or the expiry without holding a thread, and
 * reports the decision (human_run.c). The parameters are checked in
 * human.c.
 */
#ifndef BL_BLOCKS_HUMAN_RUN_H
#define BL_BLOCKS_HUMAN_RUN_H

#include <beamline/blocks.h>

#include "approvals_service.h"

typedef struct human_run_spec {
	bl_approvals_t *service;
	json_t *request;          /* the request to post; taken */
	bool fail_on_reject;      /* a rejection fails the job */
	const bl_block_env_t *env; /* borrowed for the call */
	bl_block_done_fn done;
	void *done_ctx;
} human_run_spec_t;

/* Spawn the run's actor and start it. Returns 0 when `done` will be
 * called, or BL_ENOMEM / BL_ESHUTDOWN (spec->request is then freed). */
int bl__human_run_start(human_run_spec_t *spec);

#endif
