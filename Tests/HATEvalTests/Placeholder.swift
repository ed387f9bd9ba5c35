// HATEvalTests: placeholder until its issue lands.
