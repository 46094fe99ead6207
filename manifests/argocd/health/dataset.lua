-- Argo CD health of a Ballast Dataset (ballast.dev/v1alpha1).
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
if ready.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end
if ready.status ~= "True" then
  hs.status = "Progressing"
  hs.message = describe(ready)
  return hs
end

-- Ready is True as soon as any valid version exists, also while the spec Argo CD just synced
-- is still being ingested, or after it failed: the latest version then comes from an earlier
-- spec. Refreshes of the same spec (refresh > 0) are routine and never make the Dataset unhealthy.
local ingest = obj.status.ingest
local newest = (obj.status.versions or {})[1]
if ingest ~= nil and ingest.generation == obj.metadata.generation and (ingest.refresh or 0) == 0 then
  local earlier = "; the latest valid version is from an earlier spec"
  if ingest.finishedAt == nil then
    hs.status = "Progressing"
    hs.message = "Ingesting generation " .. tostring(ingest.generation) .. " (Job " .. tostring(ingest.jobName) .. ")" .. earlier
    return hs
  end
  if ingest.succeeded == false then
    hs.status = "Degraded"
    hs.message = (ingest.reason or "IngestFailed") .. ": " .. (ingest.message or "") .. earlier
    return hs
  end
  if newest ~= nil and newest.valid == false then
    hs.status = "Degraded"
    hs.message = "InvalidData: " .. table.concat(newest.violations or {}, "; ") .. earlier
    return hs
  end
end

hs.status = "Healthy"
hs.message = describe(ready)
if ingest ~= nil and (ingest.refresh or 0) > 0 then
  if ingest.finishedAt == nil then
    hs.message = hs.message .. "; refreshing (Job " .. tostring(ingest.jobName) .. ")"
  elseif ingest.succeeded == false then
    hs.message = hs.message .. "; the last refresh failed: " .. (ingest.reason or "IngestFailed") .. ": " .. (ingest.message or "")
  elseif newest ~= nil and newest.valid == false then
    hs.message = hs.message .. "; the last refresh read invalid data: " .. table.concat(newest.violations or {}, "; ")
  end
end
return hs
