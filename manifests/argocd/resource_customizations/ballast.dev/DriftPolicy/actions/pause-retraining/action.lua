-- Pauses retraining: firings only notify. spec.action.retrain stays for resume-retraining.
obj.spec.action.type = "notify"
return obj
