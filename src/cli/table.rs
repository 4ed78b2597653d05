//! Data sets read from CSV, as the offline commands take them (`changes --csv`): a header line
//! naming the columns, then one row per point; lines starting with `#` are comments. Columns
//! are found by name, so a file may carry more than the command needs.

use std::path::Path;

/// Why a data set could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The file could not be read.
    #[error("{path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// The text is not CSV with a header.
    #[error("{path}: {error}")]
    Csv {
        /// The file.
        path: String,
        /// The parser's error.
        error: csv::Error,
    },
    /// A required column is missing.
    #[error("{path}: no column named {column:?} (the header has {header})")]
    MissingColumn {
        /// The file.
        path: String,
        /// The column.
        column: String,
        /// The columns the header names.
        header: String,
    },
    /// A cell that should hold a number does not.
    #[error("{path}: line {line}: {column} = {value:?} is not a number")]
    NotANumber {
        /// The file.
        path: String,
        /// Line number in the file.
        line: u64,
        /// The column.
        column: String,
        /// The cell.
        value: String,
    },
}

/// A CSV data set: its header and rows.
#[derive(Debug)]
pub struct Table {
    path: String,
    header: csv::StringRecord,
    rows: Vec<csv::StringRecord>,
}

impl Table {
    /// Reads the CSV file at `path`.
    pub fn read(path: &Path) -> Result<Table, TableError> {
        let text = std::fs::read_to_string(path).map_err(|error| TableError::Read {
            path: path.display().to_string(),
            error,
        })?;
        Table::parse(&path.display().to_string(), &text)
    }

    /// Parses CSV `text`, naming it `path` in errors.
    pub fn parse(path: &str, text: &str) -> Result<Table, TableError> {
        let fail = |error| TableError::Csv {
            path: path.to_owned(),
            error,
        };
        let mut reader = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let header = reader.headers().map_err(fail)?.clone();
        let rows = reader
            .records()
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        Ok(Table {
            path: path.to_owned(),
            header,
            rows,
        })
    }

    fn index(&self, column: &str) -> Option<usize> {
        self.header.iter().position(|h| h == column)
    }

    /// The cells of `column` as numbers.
    pub fn numbers(&self, column: &str) -> Result<Vec<f64>, TableError> {
        let index = self
            .index(column)
            .ok_or_else(|| TableError::MissingColumn {
                path: self.path.clone(),
                column: column.to_owned(),
                header: self.header.iter().collect::<Vec<_>>().join(","),
            })?;
        self.rows
            .iter()
            .map(|row| {
                let cell = row.get(index).unwrap_or("");
                cell.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| TableError::NotANumber {
                        path: self.path.clone(),
                        line: row.position().map_or(0, |p| p.line()),
                        column: column.to_owned(),
                        value: cell.to_owned(),
                    })
            })
            .collect()
    }

    /// The cells of `column` as text, if the table has it.
    pub fn text(&self, column: &str) -> Option<Vec<String>> {
        let index = self.index(column)?;
        Some(
            self.rows
                .iter()
                .map(|row| row.get(index).unwrap_or("").to_owned())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_found_by_name_past_comments() {
        let table = Table::parse(
            "s.csv",
            "# a series\ntime, value ,note\n1,0.5,a\n# skipped\n2, 0.75 ,b\n",
        )
        .expect("table");
        assert_eq!(table.numbers("value").expect("values"), [0.5, 0.75]);
        assert_eq!(
            table.text("time"),
            Some(vec!["1".to_owned(), "2".to_owned()])
        );
        assert_eq!(table.text("missing"), None);
        let err = table.numbers("throughput").expect_err("missing");
        assert!(
            err.to_string().contains("no column named \"throughput\""),
            "{err}"
        );
        let bad = Table::parse("b.csv", "value\n1\nx\n").expect("table");
        let err = bad.numbers("value").expect_err("not a number");
        assert_eq!(
            err.to_string(),
            "b.csv: line 3: value = \"x\" is not a number"
        );
    }
}
