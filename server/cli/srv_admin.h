/* `dustwatch admin`: the operator's command line for what must exist before
 * anyone can log in — accounts (the first city admin, password resets) and
 * enterprise ingest credentials (API keys, Hebei DES keys, MEM appid/SM4).
 *
 * Connects with migrate_database_url (the owner role; falls back to
 * database_url) in row-level-security scope "system", audits every change as
 * user "admin-cli", and prints generated secrets exactly once: the database
 * keeps only what the server needs (hashes, and the cipher keys it must
 * decrypt with). */
#ifndef DW_SRV_ADMIN_H
#define DW_SRV_ADMIN_H

/* argv[0] is "admin", argv[1] the command.  Returns the process exit code:
 * 0 done, 1 refused or failed (message on stderr), 2 bad usage. */
int srv_admin_main(int argc, char **argv);

#endif
