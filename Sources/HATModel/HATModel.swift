// HATModel: placeholder until its issue lands.
