// HATGenerateTests: placeholder until its issue lands.
