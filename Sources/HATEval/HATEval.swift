// HATEval: placeholder until its issue lands.
