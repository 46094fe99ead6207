-- Argo CD health of a Ballast DriftPolicy (ballast.dev/v1alpha1). Not a script by itself:
-- render_argocd_cm.py puts common.lua (condition, describe, verdict, ready_verdict and the
-- status and generation checks) in front of it.

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
