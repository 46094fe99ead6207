-- Brings this Superseded version back to Production: the operator scales it up, promotes it once
-- its pods are ready and supersedes the current one. The request is the time it was made, the
-- annotation `ballast rollback` writes; the operator honours one newer than the
-- version's own last change of stage.
-- Argo CD preloads a reduced os (date and time) for require, as its own restart actions use it.
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["ballast.dev/rollback-requested-at"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
