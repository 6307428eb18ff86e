"""TOSA graphs: a flatbuffer reader, the TOSA 1.0 specification's rules, vela as a second opinion."""
