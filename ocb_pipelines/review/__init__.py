"""Review workflow: decisions (approve, reject, correct), review sheets, and the approved charges."""
