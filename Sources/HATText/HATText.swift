// HATText: placeholder until its issue lands.
