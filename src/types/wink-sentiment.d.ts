declare module 'wink-sentiment' {
  interface WinkSentiment { score: number; normalizedScore: number }
  const sentiment: (phrase: string) => WinkSentiment;
  export default sentiment;
}
