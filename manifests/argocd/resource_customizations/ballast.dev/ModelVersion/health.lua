-- Argo CD health of a Ballast ModelVersion (ballast.dev/v1alpha1), in Argo CD's layout for a
-- contributed check (resource_customizations/ballast.dev/ModelVersion/health.lua): self-contained,
-- so it also runs alone. Argo CD binds the object to the global `obj` and reads the table the
-- script returns. Only Lua's base and table libraries are loaded (no string library), so
-- messages use `..` alone.

-- The condition of that type in status.conditions, or nil.
local function condition(name)
  for _, c in ipairs(obj.status.conditions or {}) do
    if c.type == name then
      return c
    end
  end
  return nil
end

-- "Reason: message", or the reason alone when the message is empty.
local function describe(c)
  if c.message == nil or c.message == "" then
    return c.reason or ""
  end
  return (c.reason or "") .. ": " .. c.message
end

-- The table Argo CD reads as the object's health.
local function verdict(status, message)
  return {status = status, message = message}
end

-- What the Ready condition says by itself: Healthy when True, Degraded when False, Progressing
-- while it is Unknown or the operator has not set it yet.
local function ready_verdict(ready)
  if ready == nil then
    return verdict("Progressing", "Waiting for the Ready condition")
  end
  if ready.status == "True" then
    return verdict("Healthy", describe(ready))
  end
  if ready.status == "False" then
    return verdict("Degraded", describe(ready))
  end
  return verdict("Progressing", describe(ready))
end

-- An object being deleted stays only for its finalizers (foregroundDeletion while the Jobs and
-- Deployments it owns go, as when Argo CD prunes it); its status describes what it was, not that.
-- gitops-engine says the same of every object it checks itself.
if obj.metadata.deletionTimestamp ~= nil then
  local finalizers = obj.metadata.finalizers or {}
  if #finalizers == 0 then
    return verdict("Progressing", "Pending deletion")
  end
  return verdict("Progressing", "Pending deletion: waiting for finalizer " .. table.concat(finalizers, ", "))
end

-- Until the operator has reported on the spec Argo CD applied, status speaks of an older one.
if obj.status == nil then
  return verdict("Progressing", "Waiting for the Ballast operator to report status")
end
if obj.status.observedGeneration ~= obj.metadata.generation then
  return verdict("Progressing", "Waiting for the Ballast operator to observe generation " .. tostring(obj.metadata.generation))
end

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
