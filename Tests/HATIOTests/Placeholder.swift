// HATIOTests: placeholder until its issue lands.
