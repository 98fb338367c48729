/* `dustwatch demo seed`: loads the demo city that deploy/demo/gen_demo.py
 * describes (JSON: regions, enterprises, systems, points, gateways, which
 * credential kind each gateway speaks; no secrets) in one transaction, mints
 * every gateway credential with srv_cred_generate — the generator the API
 * and `dustwatch admin` use — and writes the simulator's fleet file
 * (server/sim/sim_fleet.h) with the secrets, mode 0600.
 *
 * Idempotent: a database already holding the demo city is not written to,
 * unless the fleet file is missing; the database keeps only hashes of the
 * secrets, so a new fleet file means re-issuing the demo gateways'
 * credentials (the old ones are revoked, and it is audited).  A database
 * holding another city is left alone.  Connects like `dustwatch admin`:
 * migrate_database_url (the owner role), scope "system". */
#ifndef DW_CLI_DEMO_H
#define DW_CLI_DEMO_H

/* argv[0] is "demo", argv[1] the command.  Returns the process exit code:
 * 0 done (including "nothing to do"), 1 failed (message on stderr), 2 bad
 * usage. */
int cli_demo_main(int argc, char **argv);

#endif
