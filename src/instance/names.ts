// Random instance names in LXD's "adjective-noun" style, used when `launch`/`init` get no name.
const ADJECTIVES = [
  "able", "amazed", "awake", "bold", "brave", "bright", "calm", "careful", "clever", "cosmic", "crisp", "daring",
  "eager", "fair", "fancy", "fine", "fond", "frank", "free", "fresh", "gentle", "glad", "golden", "grand",
  "happy", "hardy", "honest", "humble", "jolly", "keen", "kind", "lively", "loyal", "lucky", "merry", "mighty",
  "modest", "neat", "noble", "patient", "polite", "proud", "quick", "quiet", "rapid", "ready", "sharp", "shiny",
  "smart", "solid", "steady", "sunny", "swift", "tidy", "upbeat", "valid", "vivid", "warm", "wise", "witty",
];
const NOUNS = [
  "alpaca", "badger", "beagle", "bison", "bobcat", "cobra", "condor", "coyote", "crane", "dingo", "dolphin",
  "eagle", "falcon", "ferret", "finch", "gecko", "gibbon", "goose", "heron", "hornet", "ibex", "impala", "jackal",
  "jaguar", "koala", "lemur", "llama", "lynx", "magpie", "marmot", "marten", "mink", "moose", "narwhal", "ocelot",
  "osprey", "otter", "panda", "parrot", "pelican", "puffin", "python", "quail", "rabbit", "raven", "robin",
  "salmon", "seal", "sparrow", "swan", "tapir", "tiger", "toucan", "turtle", "viper", "walrus", "weasel", "wombat",
  "yak", "zebra",
];

const pick = <T>(list: T[], random: () => number): T => list[Math.floor(random() * list.length) % list.length]!;

/** A valid instance name (letters and one dash, starts with a letter, ≤ 63 chars). */
export function randomName(random: () => number = Math.random): string {
  return `${pick(ADJECTIVES, random)}-${pick(NOUNS, random)}`;
}
