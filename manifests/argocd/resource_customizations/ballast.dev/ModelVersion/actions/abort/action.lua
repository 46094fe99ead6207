-- Aborts a canary: serving off, so the operator supersedes it and scales its Deployment to zero;
-- the Production version is left as it is. Re-enable serving to register it again.
if obj.spec.serving == nil then
  obj.spec.serving = {}
end
obj.spec.serving.enabled = false
return obj
