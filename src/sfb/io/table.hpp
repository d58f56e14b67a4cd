#pragma once
#include <iosfwd>
#include <string>
#include <vector>

namespace sfb::io {

/// One table of a console report: a header, rows of preformatted cells, and footnotes printed under
/// it as "# text" lines. Rows may be shorter than the header (missing cells print empty).
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> footnotes;
};

/// The formats a report's tables print in.
enum class TableFormat {
  kMarkdown,  ///< "| a | b |" lines, a "| --- |" row under the header, a blank line before
              ///< footnotes
  kCsv,       ///< RFC 4180 lines (cells with a comma, quote or line break quoted, quotes doubled)
};

/// Parses "md" | "csv"; ConfigError naming the value otherwise.
TableFormat parse_table_format(const std::string& name);

/// Prints `tables` to `os` in `format`, one blank line between consecutive tables.
void print_tables(const std::vector<Table>& tables, TableFormat format, std::ostream& os);

}  // namespace sfb::io
