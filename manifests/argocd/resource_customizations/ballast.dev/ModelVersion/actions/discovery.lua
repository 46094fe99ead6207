-- Argo CD resource actions of a Ballast ModelVersion (ballast.dev/v1alpha1), offered only where
-- the operator acts on them. Each edits what a person would edit with kubectl or in Git, so
-- the `ballast` CLI, a commit and the Argo CD UI all take the same path. Argo CD binds the object
-- to the global `obj`; only Lua's base and table libraries and a reduced os are loaded.
local actions = {}
local metadata = obj.metadata or {}
local spec = obj.spec or {}
local status = obj.status or {}
local rollout = spec.rollout or {}
local serving = spec.serving or {}
local being_deleted = metadata.deletionTimestamp ~= nil
local canary = status.stage == "Canary" and serving.enabled ~= false

-- The operator never serves a file that no longer matches its sha256, so a rollback to it would
-- only wait.
local function artifact_verified()
  for _, c in ipairs(status.conditions or {}) do
    if c.type == "ArtifactVerified" then
      return c.status ~= "False"
    end
  end
  return true
end

-- approve: a canary with autoPromote false is promoted once every step has passed; approving
-- earlier promotes it as soon as the last one does.
actions["approve"] = {disabled = being_deleted or not canary or rollout.autoPromote ~= false or rollout.approved == true}
-- abort: serving off; the canary is Superseded at once and Production keeps all the traffic.
actions["abort"] = {disabled = being_deleted or not canary}
-- rollback: back to Production from Superseded (a RolledBack canary failed its analysis; bring it
-- back deliberately, with `ballast rollback --to`).
actions["rollback"] = {disabled = being_deleted or status.stage ~= "Superseded" or serving.enabled == false or not artifact_verified()}
return actions
