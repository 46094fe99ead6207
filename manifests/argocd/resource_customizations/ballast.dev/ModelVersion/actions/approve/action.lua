-- Approves the promotion of a canary (rollout.autoPromote false): spec.rollout.approved, which
-- the operator records in status.approval with the field manager that set it.
if obj.spec.rollout == nil then
  obj.spec.rollout = {}
end
obj.spec.rollout.approved = true
return obj
