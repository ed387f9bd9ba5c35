// HATGenerate: placeholder until its issue lands.
