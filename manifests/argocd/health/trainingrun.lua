-- Argo CD health of a Ballast TrainingRun (ballast.dev/v1alpha1). Not a script by itself:
-- render_argocd_cm.py puts common.lua (condition, describe, verdict, ready_verdict and the
-- status and generation checks) in front of it.

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
