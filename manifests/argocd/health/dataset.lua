-- Argo CD health of a Ballast Dataset (ballast.dev/v1alpha1). Not a script by itself:
-- render_argocd_cm.py puts common.lua (condition, describe, verdict, ready_verdict and the
-- status and generation checks) in front of it.

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
