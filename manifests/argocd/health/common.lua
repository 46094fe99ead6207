-- The start of every Ballast health check. Argo CD needs one self-contained script per kind, so
-- render_argocd_cm.py puts this file in front of each <kind>.lua and argocd-cm carries the two
-- as one script. Argo CD binds the object to the global `obj` and uses the table the script
-- returns. Only Lua's base and table libraries are loaded (no string library), so messages use
-- `..` alone.

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

-- Until the operator has reported on the spec Argo CD applied, status speaks of an older one.
if obj.status == nil then
  return verdict("Progressing", "Waiting for the Ballast operator to report status")
end
if obj.status.observedGeneration ~= obj.metadata.generation then
  return verdict("Progressing", "Waiting for the Ballast operator to observe generation " .. tostring(obj.metadata.generation))
end
