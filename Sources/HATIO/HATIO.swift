// HATIO: placeholder until its issue lands.
