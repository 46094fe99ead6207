-- Argo CD health of a Ballast ModelVersion (ballast.dev/v1alpha1).
-- Argo CD binds the object to the global `obj` and uses the table this script returns. Only
-- Lua's base and table libraries are loaded (no string library), so messages use `..` alone.
local hs = {}

local function condition(name)
  for _, c in ipairs(obj.status.conditions or {}) do
    if c.type == name then
      return c
    end
  end
  return nil
end

local function describe(c)
  if c.message == nil or c.message == "" then
    return c.reason or ""
  end
  return (c.reason or "") .. ": " .. c.message
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ballast operator to report status"
  return hs
end
if obj.status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ballast operator to observe generation " .. tostring(obj.metadata.generation)
  return hs
end

local ready = condition("Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end

-- A file that no longer matches its sha256 is never loaded again: pods that run keep the copy
-- they verified, but the version is broken whatever stage it is in (Ready says so only for
-- stages that are done moving).
local verified = condition("ArtifactVerified")
if verified ~= nil and verified.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(verified)
  return hs
end

-- With autoPromote false a canary that passed every step stays at its last step until a person
-- sets spec.rollout.approved: Suspended, like a paused rollout. Before the last step passes the
-- canary still moves (or is rolled back) by itself, so it is Progressing until then.
local stage = obj.status.stage
local rollout = (obj.spec or {}).rollout or {}
local canary = obj.status.canary or {}
if stage == "Canary" and rollout.autoPromote == false and rollout.approved ~= true
    and (ready.reason == "AwaitingApproval" or canary.passedAllSteps == true) then
  hs.status = "Suspended"
  hs.message = describe(ready)
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
elseif ready.status == "False" then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
hs.message = describe(ready)
return hs
