// HATLayersTests: placeholder.
