-- Argo CD health of a Ballast TrainingRun (ballast.dev/v1alpha1).
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

-- A run is one attempt: once Succeeded is True or False it never changes again, and a later
-- edit of its spec is acknowledged (observedGeneration) but never trained. Say so rather than
-- report the new generation as in progress forever.
local succeeded = condition("Succeeded")
if succeeded ~= nil and (succeeded.status == "True" or succeeded.status == "False") then
  hs.message = describe(succeeded)
  if succeeded.observedGeneration ~= nil and succeeded.observedGeneration ~= obj.metadata.generation then
    hs.message = hs.message .. " (generation " .. tostring(succeeded.observedGeneration)
      .. "; later spec changes are not trained: create a new TrainingRun)"
  end
  if succeeded.status == "True" then
    hs.status = "Healthy"
  else
    hs.status = "Degraded"
  end
  return hs
end

-- Not finished: training, or waiting for its Dataset (Ready False with reason DatasetNotReady
-- until the wait runs out, when Succeeded turns False).
local ready = condition("Ready")
hs.status = "Progressing"
if ready == nil then
  hs.message = "Waiting for the Ready condition"
else
  hs.message = describe(ready)
end
return hs
