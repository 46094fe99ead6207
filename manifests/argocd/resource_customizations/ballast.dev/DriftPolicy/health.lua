-- Argo CD health of a Ballast DriftPolicy (ballast.dev/v1alpha1), in Argo CD's layout for a
-- contributed check (resource_customizations/ballast.dev/DriftPolicy/health.lua): self-contained,
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
if ready == nil or ready.status == "False" then
  return ready_verdict(ready)
end
-- Verdict Error: every enabled check failed outright (the server exports no reference, ...);
-- status.checks says why.
if obj.status.verdict == "Error" then
  for _, check in ipairs(obj.status.checks or {}) do
    if check.verdict == "Error" then
      return verdict("Degraded", "Error: " .. tostring(check.name) .. ": " .. (check.message or ""))
    end
  end
  return verdict("Degraded", "Error: the last evaluation failed")
end
if ready.status ~= "True" then
  return ready_verdict(ready)
end

-- The policy works, but the model it watches has drifted and still does: Degraded, so the
-- Application shows it and Argo CD notifications (on-health-degraded) can tell a person, also
-- while a retrain it started is under way.
local drifting = condition("Drifting")
if drifting ~= nil and drifting.status == "True" then
  return verdict("Degraded", describe(drifting))
end

-- Watching: the Drifting condition says what the last window showed (NoDrift, or NotEnoughData
-- while traffic is low, which is no reason to hold up a sync).
if drifting == nil then
  return verdict("Healthy", describe(ready))
end
return verdict("Healthy", describe(ready) .. "; " .. describe(drifting))
