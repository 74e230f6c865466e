/*
 * The approvals routes of the admin endpoint (admin_approvals.c).
 */
#ifndef BL_ENGINE_ADMIN_APPROVALS_H
#define BL_ENGINE_ADMIN_APPROVALS_H

#include <beamline/approvals.h>

#include "admin.h"

/* Route GET /approvals and POST /approvals/ID to `service` (borrowed for
 * the endpoint's life). Returns 0 or BL_ELIMIT. */
int bl__admin_approvals_register(bl_admin_t *admin, bl_approvals_t *service);

#endif
