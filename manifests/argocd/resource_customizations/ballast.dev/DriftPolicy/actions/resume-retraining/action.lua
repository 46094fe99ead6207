-- Resumes retraining: the next firing starts a TrainingRun from spec.action.retrain again.
obj.spec.action.type = "retrain"
return obj
