"""Rasa graph components of our own, one module each, named by module path in `config.yml`.

In the order the pipeline runs them:

- `normalizer.TextNormalizer`: canonical text (`bot.nlu.normalize`) before the tokenizer;
- `e5_featurizer.E5SentenceFeaturizer`: a multilingual-e5-small sentence embedding
  beside the sparse n-grams, usually computed already by the channel (`bot.nlu.encoder`);
- `number_answer.NumberAnswerClassifier`: a digits-only message is an `inform` answer;
- `faq_selector.FaqResponseSelector`: FAQ answers ranked only for FAQ messages.
"""
from bot.nlu.assets import load_jieba_dictionary

# Rasa imports a component's module while reading config.yml, before any component
# loads. Loading the catalog words into jieba here means the spaCy entity ruler
# (which segments its patterns when SpacyNLP loads) and the tokenizer agree on words.
load_jieba_dictionary()
