-- Argo CD resource actions of a Ballast DriftPolicy (ballast.dev/v1alpha1). Retraining is paused
-- by spec.action.type notify, which keeps spec.action.retrain (its template) for the resume:
-- a firing then records the drift (condition, Event, metrics) but starts no TrainingRun. Argo CD
-- binds the object to the global `obj`; only Lua's base and table libraries are loaded.
local actions = {}
local action = (obj.spec or {}).action or {}
local being_deleted = (obj.metadata or {}).deletionTimestamp ~= nil
local retraining = action.type == "retrain"

actions["pause-retraining"] = {disabled = being_deleted or not retraining}
-- only a policy with a retrain template can retrain
actions["resume-retraining"] = {disabled = being_deleted or retraining or action.retrain == nil}
return actions
