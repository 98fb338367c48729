/* risk_cli — `dustwatch risk …`: offline tools around the risk model.
 *
 *   dustwatch risk backtest --model FILE --from T --to T [--config FILE]
 *
 * Backtest: for every enterprise, the latest stored score inside [from, to) is recomputed
 * from its stored engine inputs (risk_scores.inputs) under the given model, and compared
 * with the grade stored at the time.  Prints counts per grade under both and the
 * enterprises whose grade changes.  Read-only; connects with database_url in the system
 * scope. */
#ifndef DW_RISK_CLI_H
#define DW_RISK_CLI_H

int risk_cli_main(int argc, char **argv);

#endif
