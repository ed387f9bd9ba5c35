// HATTextTests: placeholder until its issue lands.
