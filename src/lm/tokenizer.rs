//! Hugging Face tokenizers as shipped with a checkpoint: `tokenizer.json`, or GPT-2's `vocab.json` +
//! `merges.txt` (byte-level BPE), read with the `tokenizers` crate.

use std::path::{Path, PathBuf};

use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::Tokenizer;

use crate::error::{Error, Result};

/// A tokenizer and the folder it came from.
pub struct TextTokenizer {
    inner: Tokenizer,
    source: PathBuf,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("source", &self.source)
            .field("vocab_size", &self.vocab_size())
            .finish()
    }
}

impl TextTokenizer {
    /// Reads `dir/tokenizer.json`, else `dir/vocab.json` + `dir/merges.txt` as GPT-2's byte-level BPE.
    pub fn from_dir(dir: &Path) -> Result<TextTokenizer> {
        let bad = |path: &Path, message: String| Error::Checkpoint {
            path: path.display().to_string(),
            message,
        };
        let json = dir.join("tokenizer.json");
        if json.is_file() {
            let inner = Tokenizer::from_file(&json)
                .map_err(|e| bad(&json, format!("not a readable tokenizer ({e})")))?;
            return Ok(TextTokenizer {
                inner,
                source: json,
            });
        }
        let (vocab, merges) = (dir.join("vocab.json"), dir.join("merges.txt"));
        if !(vocab.is_file() && merges.is_file()) {
            return Err(bad(
                dir,
                "no tokenizer: the folder needs tokenizer.json, or vocab.json and merges.txt"
                    .into(),
            ));
        }
        let model = BPE::from_file(&vocab.display().to_string(), &merges.display().to_string())
            .build()
            .map_err(|e| bad(dir, format!("vocab.json/merges.txt: {e}")))?;
        let mut inner = Tokenizer::new(model);
        inner.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
        inner.with_decoder(Some(ByteLevel::default()));
        Ok(TextTokenizer {
            inner,
            source: dir.to_path_buf(),
        })
    }

    /// Number of token ids, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token string such as `<|endoftext|>`, if the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<usize> {
        self.inner.token_to_id(token).map(|id| id as usize)
    }

    /// The ids of `text` (no special tokens added).
    pub fn encode(&self, text: &str) -> Result<Vec<usize>> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| Error::InvalidOption {
                option: "tokenizer".into(),
                message: format!("{}: cannot encode {text:?}: {e}", self.source.display()),
            })?;
        Ok(encoding.get_ids().iter().map(|&id| id as usize).collect())
    }

    /// The one id `text` encodes to, or `None` when it takes several tokens (or none).
    pub fn single_token(&self, text: &str) -> Option<usize> {
        match self.encode(text).ok()?.as_slice() {
            [id] => Some(*id),
            _ => None,
        }
    }

    /// The text of `ids`.
    pub fn decode(&self, ids: &[usize]) -> Result<String> {
        let ids: Vec<u32> = ids.iter().map(|&id| id as u32).collect();
        self.inner
            .decode(&ids, false)
            .map_err(|e| Error::InvalidOption {
                option: "tokenizer".into(),
                message: format!("{}: cannot decode {ids:?}: {e}", self.source.display()),
            })
    }
}
