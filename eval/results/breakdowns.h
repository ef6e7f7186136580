// Per-category breakdowns of results.json (variants[].breakdowns): per subject / discipline (MMMU,
// MMMU-Pro), category (MMBench), skill and task type (MathVista), language or direction (FLEURS,
// CoVoST 2), ..., computed from the per-sample records' `breakdown` groups, each group scored as
// its task is (same metric, same uncertainty method), plus a macro average over the groups.
#pragma once

#include "eval/results/results.h"

#include <nlohmann/json.hpp>

#include <vector>

namespace g4u::runner {

// One entry per (benchmark, breakdown name) found in the records, in name order:
//   {"benchmark", "by", "tasks": [...], "metrics": [...], "records", "records_without_group",
//    "groups": [{"group", "samples", "n", "score", "stderr", "stderr_method", "ci95",
//                "parse_failures", "failed"[, "note"]}],
//    "macro": {"groups", "score", "stderr", "ci95", "method"}}
// The benchmark of a record is its task's `source` in the task registry (the task name for tasks
// the registry does not know). A group whose records all come from one task key is scored by that
// task's metric on those records (a corpus metric gets its own bootstrap); records of several task
// keys are pooled when every one is scored per item (mean of item scores, CLT stderr), otherwise
// the group's score is null with a note. Records without a value for the breakdown are counted,
// never dropped silently. Macro = unweighted mean of the group scores, stderr = sqrt(sum SE^2) / k
// (the groups are disjoint samples), normal 95 % interval.
nlohmann::json build_breakdowns(const std::vector<TaskGroup>& tasks, Scorer& scorer);

}  // namespace g4u::runner
