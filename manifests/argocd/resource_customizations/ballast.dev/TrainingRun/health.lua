-- Argo CD health of a Ballast TrainingRun (ballast.dev/v1alpha1), in Argo CD's layout for a
-- contributed check (resource_customizations/ballast.dev/TrainingRun/health.lua): self-contained,
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

-- A run is one attempt: once Succeeded is True or False it never changes again, and a later
-- edit of its spec is acknowledged (observedGeneration) but never trained. Say so rather than
-- report the new generation as in progress forever.
local succeeded = condition("Succeeded")
if succeeded ~= nil and (succeeded.status == "True" or succeeded.status == "False") then
  local message = describe(succeeded)
  if succeeded.observedGeneration ~= nil and succeeded.observedGeneration ~= obj.metadata.generation then
    message = message .. " (generation " .. tostring(succeeded.observedGeneration)
      .. "; later spec changes are not trained: create a new TrainingRun)"
  end
  if succeeded.status == "True" then
    return verdict("Healthy", message)
  end
  return verdict("Degraded", message)
end

-- Not finished: training, or waiting for its Dataset (Ready False with reason DatasetNotReady
-- until the wait runs out, when Succeeded turns False), so Progressing whatever Ready says.
local ready = condition("Ready")
if ready == nil then
  return verdict("Progressing", "Waiting for the Ready condition")
end
return verdict("Progressing", describe(ready))
