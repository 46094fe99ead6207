-- Argo CD health of a Ballast ModelVersion (ballast.dev/v1alpha1). Not a script by itself:
-- render_argocd_cm.py puts common.lua (condition, describe, verdict, ready_verdict and the
-- status and generation checks) in front of it.

local ready = condition("Ready")
if ready == nil then
  return ready_verdict(ready)
end

-- A file that no longer matches its sha256 is never loaded again: pods that run keep the copy
-- they verified, but the version is broken whatever stage it is in (Ready says so only for
-- stages that are done moving).
local verified = condition("ArtifactVerified")
if verified ~= nil and verified.status == "False" then
  return verdict("Degraded", describe(verified))
end

-- With autoPromote false a canary that passed every step stays at its last step until a person
-- sets spec.rollout.approved: Suspended, like a paused rollout. Before the last step passes the
-- canary still moves (or is rolled back) by itself, so it is Progressing until then.
local stage = obj.status.stage
local rollout = (obj.spec or {}).rollout or {}
local canary = obj.status.canary or {}
if stage == "Canary" and rollout.autoPromote == false and rollout.approved ~= true
    and (ready.reason == "AwaitingApproval" or canary.passedAllSteps == true) then
  return verdict("Suspended", describe(ready))
end

return ready_verdict(ready)
