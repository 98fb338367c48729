/* `dustwatch audit`: check the audit trail's chain and export it.
 *
 *   dustwatch audit verify [--config FILE]
 *       walks the whole chain in id order (server/core/srv_audit.h): every
 *       row's prev_hash must be the hash of the row before it, its hash must
 *       be what its content gives (HMAC with the master key's audit subkey;
 *       legacy rows of migrations 0003-0031 with their SHA-256 at the UTC
 *       offset they were written under), and the chain must reach the end
 *       recorded in audit_chain_head.  Exit 0 when it holds, 1 at the first
 *       broken link (the row is named on stderr), 2 for a usage error, 3 when
 *       it could not check (database, master key).  The result does not
 *       depend on the session's or the process's time zone.
 *
 *   dustwatch audit export [--from T] [--to T] [--format jsonl|csv]
 *       the rows with T_from <= at < T_to (RFC 3339; either may be left
 *       out) in id order on stdout, one JSON object per line (default) or
 *       CSV with a header row; times in UTC with microseconds, hashes in
 *       hex, so an export can be archived and checked outside the database. */
#ifndef DW_CLI_AUDIT_H
#define DW_CLI_AUDIT_H

int cli_audit_main(int argc, char **argv);

#endif
