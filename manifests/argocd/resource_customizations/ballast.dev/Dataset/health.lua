-- Argo CD health of a Ballast Dataset (ballast.dev/v1alpha1), in Argo CD's layout for a
-- contributed check (resource_customizations/ballast.dev/Dataset/health.lua): self-contained,
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
if ready == nil or ready.status ~= "True" then
  return ready_verdict(ready)
end

-- Ready is True as soon as any valid version exists, also while the spec Argo CD just synced
-- is still being ingested, or after it failed: the latest version then comes from an earlier
-- spec. Refreshes of the same spec (refresh > 0) are routine and never make the Dataset unhealthy.
local ingest = obj.status.ingest
local newest = (obj.status.versions or {})[1]
if ingest ~= nil and ingest.generation == obj.metadata.generation and (ingest.refresh or 0) == 0 then
  local earlier = "; the latest valid version is from an earlier spec"
  if ingest.finishedAt == nil then
    return verdict("Progressing", "Ingesting generation " .. tostring(ingest.generation) .. " (Job " .. tostring(ingest.jobName) .. ")" .. earlier)
  end
  if ingest.succeeded == false then
    return verdict("Degraded", (ingest.reason or "IngestFailed") .. ": " .. (ingest.message or "") .. earlier)
  end
  if newest ~= nil and newest.valid == false then
    return verdict("Degraded", "InvalidData: " .. table.concat(newest.violations or {}, "; ") .. earlier)
  end
end

local message = describe(ready)
if ingest ~= nil and (ingest.refresh or 0) > 0 then
  if ingest.finishedAt == nil then
    message = message .. "; refreshing (Job " .. tostring(ingest.jobName) .. ")"
  elseif ingest.succeeded == false then
    message = message .. "; the last refresh failed: " .. (ingest.reason or "IngestFailed") .. ": " .. (ingest.message or "")
  elseif newest ~= nil and newest.valid == false then
    message = message .. "; the last refresh read invalid data: " .. table.concat(newest.violations or {}, "; ")
  end
end
return verdict("Healthy", message)
