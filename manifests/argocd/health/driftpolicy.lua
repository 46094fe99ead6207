-- Argo CD health of a Ballast DriftPolicy (ballast.dev/v1alpha1).
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
-- Verdict Error: every enabled check failed outright (the server exports no reference, ...);
-- status.checks says why.
if obj.status.verdict == "Error" then
  hs.status = "Degraded"
  hs.message = "Error: the last evaluation failed"
  for _, check in ipairs(obj.status.checks or {}) do
    if check.verdict == "Error" then
      hs.message = "Error: " .. tostring(check.name) .. ": " .. (check.message or "")
      break
    end
  end
  return hs
end
if ready.status ~= "True" then
  hs.status = "Progressing"
  hs.message = describe(ready)
  return hs
end

-- The policy works, but the model it watches has drifted and still does: Degraded, so the
-- Application shows it and Argo CD notifications (on-health-degraded) can tell a person, also
-- while a retrain it started is under way.
local drifting = condition("Drifting")
if drifting ~= nil and drifting.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(drifting)
  return hs
end

-- Watching: the Drifting condition says what the last window showed (NoDrift, or NotEnoughData
-- while traffic is low, which is no reason to hold up a sync).
hs.status = "Healthy"
hs.message = describe(ready)
if drifting ~= nil then
  hs.message = hs.message .. "; " .. describe(drifting)
end
return hs
