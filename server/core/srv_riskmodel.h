/* srv_riskmodel.h — loads a risk model JSON file (schema/risk-model.schema.json) into the
 * plain risk_model struct of risk/. Strict: unknown keys, missing keys, wrong types and
 * values that fail risk_model_validate() are all rejected with a message naming the path. */
#ifndef DW_SRV_RISKMODEL_H
#define DW_SRV_RISKMODEL_H

#include "risk_model.h"

#include <stddef.h>

/* 0 on success; -1 with a one-line message in err (always NUL-terminated when errlen > 0).
 * *out is only written on success. */
__attribute__((warn_unused_result)) int srv_riskmodel_load(const char *path, risk_model *out,
                                                           char *err, size_t errlen);

/* Same, from a JSON text already in memory (the model stored in a DB row). */
__attribute__((warn_unused_result)) int srv_riskmodel_parse(const char *text, risk_model *out,
                                                            char *err, size_t errlen);

#endif
