#pragma once
// A journal entry as the admin API writes it: GET /__admin/requests lists these, and the
// journal's event stream sends one per event.

#include <boost/json/object.hpp>

#include "stubborn/control.hpp"

namespace stubborn {

/// The JSON object of one journal entry (invalid UTF-8 replaced, a binary body in base64).
boost::json::object entry_json(const journal_entry& entry);

}  // namespace stubborn
