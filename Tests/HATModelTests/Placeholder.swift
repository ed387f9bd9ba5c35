// HATModelTests: placeholder until its issue lands.
