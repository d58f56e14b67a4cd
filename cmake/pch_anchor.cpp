// Anchor translation unit for the shared precompiled header target (sfb_pch).
namespace sfb::detail { int pch_anchor() { return 0; } }
