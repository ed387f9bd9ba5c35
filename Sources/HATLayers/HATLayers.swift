// HATLayers: placeholder until the numerics issue lands.
